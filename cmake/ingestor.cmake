# Ingestor area: the extra library of the ingestor (utf8proc, for NFC normalisation of texts).
pkg_check_modules(UTF8PROC REQUIRED IMPORTED_TARGET libutf8proc)
target_link_libraries(svc_ingestor PUBLIC PkgConfig::UTF8PROC)
