//! ntp.conf parsing (nom) into typed directives.
