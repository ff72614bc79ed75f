"""The enterprise side (HR console): certification, members and roles, seals, admin
change, departments, employees, dashboard. Every service checks permission and scopes
every query by enterprise id (tenant isolation)."""
