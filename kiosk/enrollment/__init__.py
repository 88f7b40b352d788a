"""The enrollment domain: NIK/KK parsing, demographics, quality gates, the session."""
