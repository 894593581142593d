//! The error codes of X-Road in both spellings (7.8 `snake_case`, 7.7 `CamelCase`).

macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = $v78:literal, $v77:literal;)*) => {
        /// One segment of an X-Road fault code, e.g. `service_failed` / `ServiceFailed`.
        ///
        /// The list follows the Java `ErrorCodes`/`ErrorCode` tables. Codes that exist only
        /// since 7.8 get a 7.7 spelling by the 7.7 naming rule (CamelCase).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $($(#[$doc])* #[doc = concat!("`", $v78, "` (7.7: `", $v77, "`)")] $variant,)*
        }

        impl ErrorCode {
            /// Every code, in table order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The spelling of X-Road 7.8 and later.
            pub const fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $v78,)* }
            }

            /// The spelling of X-Road 7.7 and earlier (and of the protocol documents).
            pub const fn as_legacy_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $v77,)* }
            }
        }
    };
}

error_codes! {
    IoError = "io_error", "IOError";
    NetworkError = "network_error", "NetworkError";
    InternalError = "internal_error", "InternalError";
    BadRequest = "bad_request", "BadRequest";
    NotFound = "not_found", "NotFound";
    HttpError = "http_error", "HttpError";
    /// 7.7 servers reported an unknown host as a network error.
    UnknownHost = "unknown_host", "NetworkError";
    DatabaseError = "database_error", "DatabaseError";
    InvalidResponse = "invalid_response", "InvalidResponse";
    InvalidRequest = "invalid_request", "InvalidRequest";
    CannotCreateSignature = "cannot_create_signature", "CannotCreateSignature";
    CertValidation = "cert_validation", "CertValidation";
    MissingValidationInfo = "missing_validation_info", "MissingValidationInfo";
    IncorrectValidationInfo = "incorrect_validation_info", "IncorrectValidationInfo";
    CannotCreateCertPath = "cannot_create_cert_path", "CannotCreateCertPath";
    CertValidityTime = "cert_validity_time", "CertValidityTime";
    IncorrectCertificate = "incorrect_certificate", "IncorrectCertificate";
    InvalidCertificate = "invalid_certificate", "InvalidCertificate";
    UnsupportedAlgorithm = "unsupported_algorithm", "UnsupportedAlgorithm";
    InvalidSignatureValue = "invalid_signature_value", "InvalidSignatureValue";
    MalformedSignature = "malformed_signature", "MalformedSignature";
    InvalidXml = "invalid_xml", "InvalidXml";
    InvalidReference = "invalid_reference", "InvalidReference";
    /// Nested prefix for certificate path failures.
    InvalidCertPath = "invalid_cert_path", "InvalidCertPath";
    /// Nested prefix for signature verification failures.
    SignatureVerification = "signature_verification", "SignatureVerification";
    MalformedSoap = "malformed_soap", "MalformedSoap";
    InvalidHashChain = "invalid_hash_chain", "InvalidHashChain";
    MalformedHashChain = "malformed_hash_chain", "MalformedHashChain";
    HashChainUnusedInputs = "hashchain_unused_inputs", "HashChainUnusedInputs";
    InvalidHashChainRef = "invalid_hash_chain_ref", "InvalidHashChainRef";
    /// Also a nested prefix for TLS authentication failures.
    SslAuthenticationFailed = "ssl_authentication_failed", "SslAuthenticationFailed";
    InvalidContentType = "invalid_content_type", "InvalidContentType";
    InvalidSoapAction = "invalid_soap_action", "InvalidSoapAction";
    InvalidHttpMethod = "invalid_http_method", "InvalidHttpMethod";
    InvalidMessage = "invalid_message", "InvalidMessage";
    InvalidSecurityServer = "invalid_security_server", "InvalidSecurityServer";
    MimeParsingFailed = "mime_parsing_failed", "MimeParsingFailed";
    MissingHeader = "missing_header", "MissingHeader";
    MissingHeaderField = "missing_header_field", "MissingHeaderField";
    DuplicateHeaderField = "duplicate_header_field", "DuplicateHeaderField";
    MissingBody = "missing_body", "MissingBody";
    InvalidBody = "invalid_body", "InvalidBody";
    InconsistentHeaders = "inconsistent_headers", "InconsistentHeaders";
    InconsistentResponse = "inconsistent_response", "InconsistentResponse";
    MissingSoap = "missing_soap", "MissingSoap";
    InvalidSoap = "invalid_soap", "InvalidSoap";
    MissingRest = "missing_rest", "MissingRest";
    InvalidRest = "invalid_rest", "InvalidRest";
    AccessDenied = "access_denied", "AccessDenied";
    ServiceDisabled = "service_disabled", "ServiceDisabled";
    /// Also a nested prefix: an error talking to or decoding the other party.
    ServiceFailed = "service_failed", "ServiceFailed";
    MissingSignature = "missing_signature", "MissingSignature";
    UnknownService = "unknown_service", "UnknownService";
    InvalidProtocolVersion = "invalid_protocol_version", "InvalidProtocolVersion";
    InvalidClientIdentifier = "invalid_client_identifier", "InvalidClientIdentifier";
    InvalidServiceType = "service_type", "ServiceType";
    ClientProxyVersionNotSupported = "client_proxy_version_not_supported", "ClientProxyVersionNotSupported";
    UnknownMember = "unknown_member", "UnknownMember";
    MalformedServerConf = "malformed_server_conf", "MalformedServerConf";
    MalformedGlobalConf = "malformed_global_conf", "MalformedGlobalConf";
    OutdatedGlobalConf = "global_conf_outdated", "OutdatedGlobalConf";
    GlobalConfMissingVerificationCert = "global_conf_missing_verification_cert", "GlobalConfMissingVerificationCert";
    GlobalConfSignatureVerificationFailure = "global_conf_signature_verification_failure", "GlobalConfSignatureVerificationFailure";
    GlobalConfMissingSignedDataExpirationDate = "global_conf_missing_signed_data_expiration_date", "GlobalConfMissingSignedDataExpirationDate";
    GlobalConfHeaderFieldMissing = "global_conf_header_field_missing", "GlobalConfHeaderFieldMissing";
    GlobalConfHeaderFieldMissingParameter = "global_conf_header_field_missing_parameter", "GlobalConfHeaderFieldMissingParameter";
    ServiceMissingUrl = "service_missing_url", "ServiceMissingUrl";
    ServiceMalformedUrl = "service_malformed_url", "ServiceMalformedUrl";
    HsmNonOperational = "hsm_non_operational", "HSMNonOperational";
    MaintenanceMode = "maintenance_mode", "MaintenanceMode";
    MalformedAnchor = "malformed_anchor", "MalformedAnchor";
    AnchorFileNotFound = "anchor_file_not_found", "AnchorFileNotFound";
    FailedToSaveInstanceIdentifier = "failed_to_save_instance_identifier", "FailedToSaveInstanceIdentifier";
    GlobalConfGetVersionFailed = "global_conf_get_version_failed", "GlobalConfGetVersionFailed";
    GlobalConfDownloadUrlConnectionFailure = "global_conf_download_url_connection_failure", "GlobalConfDownloadUrlConnectionFailure";
    GlobalConfPartDownloadFailure = "global_conf_part_download_failure", "GlobalConfPartDownloadFailure";
    GlobalConfPartDownloadedFileIntegrityFailure = "global_conf_part_downloaded_file_integrity_failure", "GlobalConfPartDownloadedFileIntegrityFailure";
    GlobalConfPartInvalidInstanceIdentifier = "global_conf_part_invalid_instance_identifier", "GlobalConfPartInvalidInstanceIdentifier";
    GlobalConfPartFileSaveFailure = "global_conf_part_file_save_failure", "GlobalConfPartFileSaveFailure";
    KeyNotFound = "key_not_found", "KeyNotFound";
    KeyNotAvailable = "key_not_available", "KeyNotAvailable";
    CertNotFound = "cert_not_found", "CertNotFound";
    CsrNotFound = "csr_not_found", "CsrNotFound";
    TokenNotFound = "token_not_found", "TokenNotFound";
    TokenNotActive = "token_not_active", "TokenNotActive";
    TokenNotInitialized = "token_not_initialized", "TokenNotInitialized";
    TokenNotAvailable = "token_not_available", "TokenNotAvailable";
    TokenReadOnly = "token_readonly", "TokenReadOnly";
    CannotSign = "cannot_sign", "CannotSign";
    UnsupportedSignAlgorithm = "unsupported_sign_algorithm", "UnsupportedSignAlgorithm";
    CsrFailed = "failed_to_generate_certificate_request", "FailedToGenerateCertificateRequest";
    FailedToGeneratePrivateKey = "failed_to_generate_private_key", "FailedToGeneratePrivateKey";
    FailedToGeneratePublicKey = "failed_to_generate_public_key", "FailedToGeneratePublicKey";
    FailedToDeleteKey = "failed_to_delete_key", "FailedToDeleteKey";
    CertExists = "cert_exists", "CertExists";
    NoMemberIdFromCert = "cannot_get_member_id_from_certificate", "CannotGetMemberIdFromCertificate";
    WrongCertUsage = "wrong_cert_usage", "WrongCertUsage";
    NoMemberId = "cannot_find_member", "CannotFindMember";
    LoginFailed = "login_failed", "LoginFailed";
    LogoutFailed = "logout_failed", "LogoutFailed";
    PinIncorrect = "pin_incorrect", "PinIncorrect";
    CertImportFailed = "cert_import_failed", "CertImportFailed";
    TokenPinPolicyFailure = "token_pin_policy_failure", "TokenPinPolicyFailure";
    AsicMimeTypeNotFound = "asic_mime_type_not_found", "AsicMimeTypeNotFound";
    AsicInvalidMimeType = "asic_invalid_mime_type", "AsicInvalidMimeType";
    AsicMessageNotFound = "asic_message_not_found", "AsicMessageNotFound";
    AsicSignatureNotFound = "asic_signature_not_found", "AsicSignatureNotFound";
    AsicHashChainResultNotFound = "asic_hash_chain_result_not_found", "AsicHashChainResultNotFound";
    AsicHashChainNotFound = "asic_hash_chain_not_found", "AsicHashChainNotFound";
    AsicTimestampNotFound = "asic_timestamp_not_found", "AsicTimestampNotFound";
    /// Nested prefix of message log (time-stamping) errors.
    Mlog = "mlog", "Mlog";
    NoTimestampingProviderFound = "no_timestamping_provider_found", "NoTimestampingProviderFound";
    TspCertificateNotFound = "tsp_certificate_not_found", "TspCertificateNotFound";
    TimestampTokenSignerInfoNotFound = "timestamp_token_signer_info_not_found", "TimestampTokenSignerInfoNotFound";
    TimestampSignerVerificationFailed = "timestamp_signer_verification_failed", "TimestampSignerVerificationFailed";
}

/// Who raised an error: the first segment(s) of every X-Road generated fault code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    /// The information system sent something wrong (`client` / `Client`).
    Client,
    /// The consumer security server failed (`server.clientproxy` / `Server.ClientProxy`).
    ClientProxy,
    /// The provider security server failed (`server.serverproxy` / `Server.ServerProxy`).
    ServerProxy,
    /// The signer failed (`signer` / `Signer`).
    Signer,
}

impl Origin {
    /// The prefix in the 7.8 spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Origin::Client => "client",
            Origin::ClientProxy => "server.clientproxy",
            Origin::ServerProxy => "server.serverproxy",
            Origin::Signer => "signer",
        }
    }

    /// The prefix in the 7.7 spelling.
    pub const fn as_legacy_str(self) -> &'static str {
        match self {
            Origin::Client => "Client",
            Origin::ClientProxy => "Server.ClientProxy",
            Origin::ServerProxy => "Server.ServerProxy",
            Origin::Signer => "Signer",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_are_unique_and_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "duplicate {s}");
            assert_eq!(
                legacy_by_rule(s),
                code.as_legacy_str(),
                "7.7 spelling of {s}"
            );
            assert!(
                s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{s}"
            );
            let l = code.as_legacy_str();
            assert!(l.bytes().all(|b| b.is_ascii_alphanumeric()), "{l}");
            assert!(l.starts_with(|c: char| c.is_ascii_uppercase()), "{l}");
        }
        assert_eq!(
            ErrorCode::OutdatedGlobalConf.as_str(),
            "global_conf_outdated"
        );
    }

    /// The conversion rule of the 7.8 change: CamelCase per `_` word, with the irregular cases.
    fn legacy_by_rule(s: &str) -> String {
        match s {
            "io_error" => "IOError".into(),
            "hashchain_unused_inputs" => "HashChainUnusedInputs".into(),
            "global_conf_outdated" => "OutdatedGlobalConf".into(),
            "hsm_non_operational" => "HSMNonOperational".into(),
            "token_readonly" => "TokenReadOnly".into(),
            "unknown_host" => "NetworkError".into(),
            _ => s
                .split('_')
                .map(|w| {
                    let mut c = w.chars();
                    c.next()
                        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                        .unwrap_or_default()
                })
                .collect(),
        }
    }
}
