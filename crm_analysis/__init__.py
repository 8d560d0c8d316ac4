"""crm_analysis."""
