//! WSDL and OpenAPI import (to do).
