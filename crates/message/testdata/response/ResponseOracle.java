// Test oracle for crates/message/src/response: parses a provider response with Apache Xerces
// (configured as ee.ria.xroad.common.message.SaxSoapParserImpl configures it) and writes the SAX
// events back out with the rules of SaxSoapParserImpl (processed XML) and
// ServerMessageProcessor.ResponseSoapParserImpl (requestHash insertion), so that the Rust
// rewriter can be compared with what the Java provider security server produces. It does not
// validate X-Road headers (the Rust tests name the expected fault codes in NAME.err).
//
// Run ./regenerate.sh (needs a JDK, xercesImpl, commons-text, commons-lang3 and commons-io jars,
// e.g. Debian's libxerces2-java libcommons-text-java libcommons-lang3-java libcommons-io-java).
// Set ORACLE_TRACE=1 to see the character events Xerces reports.
import java.io.*;
import java.nio.file.*;
import java.util.*;
import javax.xml.namespace.QName;
import javax.xml.parsers.*;
import org.apache.commons.io.input.BOMInputStream;
import org.apache.commons.text.StringEscapeUtils;
import org.xml.sax.*;
import org.xml.sax.ext.DefaultHandler2;
import org.xml.sax.helpers.AttributesImpl;

public class ResponseOracle {
    static final String ENV = "http://schemas.xmlsoap.org/soap/envelope/";
    static final String XRD = "http://x-road.eu/xsd/xroad.xsd";
    static final QName HEADER = new QName(ENV, "Header"), BODY = new QName(ENV, "Body"), ENVELOPE = new QName(ENV, "Envelope");
    static final QName ID = new QName(XRD, "id"), HASH = new QName(XRD, "requestHash");

    final Writer w;
    final String hash;
    boolean inHeader, inBody, inExistingRequestHash, bufferFlushed = true;
    char[] tabs;
    char[] buffered; int bufOff, bufLen;
    char[] entity;
    int depth;
    Deque<Attributes> attrStack = new ArrayDeque<>();

    ResponseOracle(Writer w, String hash) { this.w = w; this.hash = hash; }

    void rawChars(char[] c, int s, int l) throws IOException { w.write(c, s, l); }
    void rawStart(String prefix, QName el, Attributes a) throws IOException {
        w.append('<');
        w.append(prefix.isEmpty() ? el.getLocalPart() : prefix + ":" + el.getLocalPart());
        for (int i = 0; i < a.getLength(); i++) {
            w.append(String.format(" %s=\"%s\"", a.getQName(i), StringEscapeUtils.escapeXml11(a.getValue(i))));
        }
        w.append('>');
    }
    void rawEnd(String prefix, QName el) throws IOException {
        w.append("</").append(prefix.isEmpty() ? el.getLocalPart() : prefix + ":" + el.getLocalPart()).append('>');
    }
    void flush() throws IOException {
        if (!bufferFlushed) { rawChars(buffered, bufOff, bufLen); bufferFlushed = true; }
    }
    void chars(char[] c, int s, int l) throws IOException {
        if (inHeader && tabs == null && new String(c, s, l).trim().isEmpty()) tabs = Arrays.copyOfRange(c, s, s + l);
        if (!inBody && bufferFlushed) {
            buffered = Arrays.copyOfRange(c, s, s + l); bufOff = 0; bufLen = l; bufferFlushed = false;
        } else if (!inExistingRequestHash) {
            flush(); rawChars(c, s, l);
        }
    }
    void start(String prefix, QName el, Attributes a) throws IOException {
        if (inHeader && el.equals(HASH)) { inExistingRequestHash = true; return; }
        if (!inBody && el.equals(BODY)) inBody = true;
        flush(); rawStart(prefix, el, a);
    }
    void end(String prefix, QName el, Attributes a) throws IOException {
        if (inHeader && el.equals(HASH)) inExistingRequestHash = false;
        else { flush(); rawEnd(prefix, el); }
        if (inHeader && el.equals(ID)) {
            AttributesImpl h = new AttributesImpl(a);
            h.addAttribute("", "", "algorithmId", "xs:string", "http://www.w3.org/2001/04/xmlenc#sha512");
            char[] t = tabs != null ? tabs : new char[0];
            rawChars(t, 0, t.length);
            rawStart(prefix, HASH, h);
            rawChars(hash.toCharArray(), 0, hash.length());
            rawEnd(prefix, HASH);
        }
    }
    static String prefix(String q) { int i = q.indexOf(':'); return i < 0 ? "" : q.substring(0, i); }

    class H extends DefaultHandler2 {
        public void startDocument() throws SAXException { try { w.append("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"); } catch (IOException e) { throw new SAXException(e); } }
        public void endDocument() throws SAXException { try { w.append("\n"); } catch (IOException e) { throw new SAXException(e); } }
        public void startElement(String uri, String local, String q, Attributes a) throws SAXException {
            depth++;
            QName el = new QName(uri, local);
            if (depth == 2 && el.equals(HEADER)) inHeader = true;
            attrStack.push(a); // the parser's reused Attributes object, as the Java handlers keep it
            try { start(prefix(q), el, a); } catch (IOException e) { throw new SAXException(e); }
        }
        public void endElement(String uri, String local, String q) throws SAXException {
            QName el = new QName(uri, local);
            Attributes a = attrStack.pop();
            if (depth == 2 && el.equals(HEADER)) inHeader = false;
            depth--;
            try { end(prefix(q), el, a); } catch (IOException e) { throw new SAXException(e); }
        }
        public void characters(char[] ch, int s, int l) throws SAXException {
            try {
                if (System.getenv("ORACLE_TRACE") != null) System.err.println("chars" + l + "[" + new String(ch, s, l).replace("\n", "\\n").replace("\r", "\\r") + "]" + (entity != null ? " entity=" + new String(entity) : ""));
                if (entity != null) {
                    chars(new char[]{'&'}, 0, 1); chars(entity, 0, entity.length); chars(new char[]{';'}, 0, 1); entity = null;
                } else chars(ch, s, l);
            } catch (IOException e) { throw new SAXException(e); }
        }
        public void comment(char[] ch, int s, int l) throws SAXException {
            try { chars("<!--".toCharArray(), 0, 4); chars(ch, s, l); chars("-->".toCharArray(), 0, 3); } catch (IOException e) { throw new SAXException(e); }
        }
        public void startEntity(String name) { entity = name.toCharArray(); }
        public void startCDATA() throws SAXException { try { chars("<![CDATA[".toCharArray(), 0, 9); } catch (IOException e) { throw new SAXException(e); } }
        public void endCDATA() throws SAXException { try { chars("]]>".toCharArray(), 0, 3); } catch (IOException e) { throw new SAXException(e); } }
        public void error(SAXParseException e) throws SAXException { throw e; }
    }

    public static void main(String[] args) throws Exception {
        byte[] in = Files.readAllBytes(Paths.get(args[0]));
        String charset = args.length > 2 && !args[2].isEmpty() ? args[2] : null;
        String hash = args.length > 3 ? args[3] : "HASH";
        SAXParserFactory f = new org.apache.xerces.jaxp.SAXParserFactoryImpl();
        f.setNamespaceAware(true);
        f.setFeature("http://xml.org/sax/features/namespace-prefixes", true);
        f.setValidating(false);
        f.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
        f.setFeature("http://xml.org/sax/features/external-general-entities", false);
        f.setFeature("http://xml.org/sax/features/external-parameter-entities", false);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        InputStream is = new ByteArrayInputStream(in);
        if (charset == null || charset.equalsIgnoreCase("UTF-8")) is = new BOMInputStream(is);
        try (BufferedWriter w = new BufferedWriter(new OutputStreamWriter(out, charset == null ? "UTF-8" : charset))) {
            ResponseOracle o = new ResponseOracle(w, hash);
            SAXParser p = f.newSAXParser();
            XMLReader r = p.getXMLReader();
            H h = o.new H();
            r.setProperty("http://xml.org/sax/properties/lexical-handler", h);
            r.setFeature("http://apache.org/xml/features/scanner/notify-char-refs", true);
            r.setFeature("http://apache.org/xml/features/scanner/notify-builtin-refs", true);
            p.parse(is, h);
        } catch (SAXException e) {
            System.err.println("ERROR " + e.getMessage());
            System.exit(2);
        }
        Files.write(Paths.get(args[1]), out.toByteArray());
    }
}
