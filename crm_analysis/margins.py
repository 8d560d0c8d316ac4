"""Money and margins of repair orders (placeholder: filled by moving value.Margins here)."""
