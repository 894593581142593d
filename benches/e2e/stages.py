#!/usr/bin/env python3
"""CPU time per message by stage, from a `perf record --call-graph dwarf` profile of a server.

usage: stages.py PERF_DATA MESSAGES CPU_US_PER_MESSAGE

Reads `perf report --children` (inclusive shares: a stage counts everything it calls) and
`--no-children` (self shares, for allocation, copies and the kernel), and prints each stage's
share of the server's CPU time and its microseconds per message. Inclusive stages overlap
where one calls another (verification allocates, TLS writes enter the kernel): the table is a
map of where time goes, not a partition.
"""
import re
import subprocess
import sys

# (stage, kind, symbol regex); kind "incl" = inclusive of callees, "self" = own time only.
STAGES = [
    ("request/response handling, whole (server proxy)", "incl", r"^xroad_proxy::server_proxy::soap::process::"),
    ("request/response handling, whole (client proxy)", "incl", r"^xroad_proxy::client_proxy::soap::process::"),
    ("signature verification (all of it)", "incl", r"^xroad_crypto::signature::verify::verify$"),
    ("  of which ECDSA/RSA signature value", "incl", r"^xroad_crypto::algorithm::PublicKey::verify$"),
    ("  of which XML parse of the signature", "incl", r"^xroad_crypto::signature::parse::SignatureDoc::parse$"),
    ("signing (batch, hash chain, key operation)", "incl", r"^xroad_signer::service::sign_group$"),
    ("  of which the key operation", "incl", r"^xroad_signer::signer::KeySigner::sign$"),
    ("SOAP parsing (headers, checks)", "incl", r"^xroad_message::soap::SoapParser::step$"),
    ("response re-serialization (Java's bytes)", "incl", r"^xroad_message::response::lexer::Lexer::feed$"),
    ("transport multipart decoding", "incl", r"^xroad_proxy::transport::decode::TransportDecoder::step$"),
    ("client authentication (TLS peer, OCSP)", "incl", r"^xroad_proxy::server_proxy::verify_client_auth$"),
    ("signing context (certificate, OCSP)", "incl", r"^xroad_proxy::context::ProxyContext::signing_context$"),
    ("TLS writes (encrypt, MAC, send)", "incl", r"^SSL_write_ex2?$"),
    ("TLS reads (receive, decrypt, MAC)", "incl", r"^SSL_read_ex$"),
    ("SHA-512 digests (ring, OpenSSL)", "self", r"sha512_block_data_order"),
    ("allocation (malloc, free)", "self", r"^(malloc|_int_malloc|_int_free|cfree.*|free|realloc|_int_realloc|malloc_consolidate|unlink_chunk.*)$"),
    ("copies (memmove, memcpy)", "self", r"^__mem(move|cpy)"),
    ("kernel (syscalls, TCP, scheduling)", "kernel", r""),
]


def report(data, children):
    args = ["perf", "report", "-i", data, "--sort", "symbol", "--stdio", "-g", "none",
            "--percent-limit", "0.01", "--children" if children else "--no-children"]
    out = subprocess.run(args, capture_output=True, text=True, check=False).stdout
    rows = []
    for line in out.splitlines():
        m = re.match(r"^\s+([\d.]+)%\s+(?:([\d.]+)%\s+)?\[(.)\]\s+(.*?)\s*(?:-\s+-)?\s*$", line)
        if m:
            share = float(m.group(1))
            rows.append((share, m.group(3), m.group(4).strip()))
    return rows


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    data, cpu_us = sys.argv[1], float(sys.argv[3])
    incl = report(data, True)
    own = report(data, False)
    print(f"{'stage':<52} {'share':>7} {'µs/msg':>8}")
    for name, kind, pattern in STAGES:
        if kind == "kernel":
            share = sum(s for s, k, _ in own if k == "k")
        elif kind == "self":
            share = sum(s for s, k, sym in own if k == "." and re.search(pattern, sym))
        else:
            share = max((s for s, k, sym in incl if re.search(pattern, sym)), default=0.0)
        if share:
            print(f"{name:<52} {share:>6.1f}% {share / 100 * cpu_us:>8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
