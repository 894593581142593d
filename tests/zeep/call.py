"""A real SOAP client: zeep builds the client from the sample service's WSDL and calls
helloService through the consumer's client proxy with the X-Road SOAP headers.

Usage: call.py WSDL_URL CLIENT_PROXY_URL CLIENT SERVICE NAME
  CLIENT  INSTANCE/CLASS/CODE[/SUBSYSTEM]
  SERVICE INSTANCE/CLASS/CODE/SUBSYSTEM/SERVICE_CODE/VERSION
Prints the answer's message, then the response's X-Road id and protocolVersion, one a line.
"""

import sys
import uuid

import zeep
from zeep.transports import Transport

wsdl_url, proxy_url, client_id, service_id, name = sys.argv[1:6]

transport = Transport(timeout=30, operation_timeout=60)
client = zeep.Client(wsdl_url, transport=transport)
# The WSDL's address is the provider's information system; requests go to our own
# security server's client proxy instead.
binding_name = next(iter(client.wsdl.bindings))
service = client.create_service(binding_name, proxy_url)

xrd = "{http://x-road.eu/xsd/xroad.xsd}"
c = client_id.split("/")
s = service_id.split("/")
header_type = client.get_element(xrd + "client").type
service_type = client.get_element(xrd + "service").type
request_id = str(uuid.uuid4())
# The WSDL declares the X-Road headers (soap:header parts), so zeep takes them by part name.
headers = {
    "client": header_type(
        xRoadInstance=c[0], memberClass=c[1], memberCode=c[2],
        subsystemCode=c[3] if len(c) > 3 else None,
        objectType="SUBSYSTEM" if len(c) > 3 else "MEMBER",
    ),
    "service": service_type(
        xRoadInstance=s[0], memberClass=s[1], memberCode=s[2], subsystemCode=s[3],
        serviceCode=s[4], serviceVersion=s[5], objectType="SERVICE",
    ),
    "id": request_id,
    "userId": "EE12345678901",
    "protocolVersion": "4.0",
}

result = service.helloService(name=name, _soapheaders=headers)

# The body value, and the headers the provider answered with (zeep parses them too).
body = result.body if hasattr(result, "body") else result
message = body["message"] if not isinstance(body, str) else body
print(message)
header = result.header if hasattr(result, "header") else None
answered_id = header["id"] if header is not None else ""
print(answered_id)
print("same-id" if answered_id == request_id else "other-id")
