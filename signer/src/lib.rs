//! The X-Road signer: software and PKCS#11 tokens, keys, CSRs, certificates, OCSP for own certificates, batch signing, autologin.
