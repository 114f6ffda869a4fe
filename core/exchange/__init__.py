"""Moving data in and out: spreadsheets (CSV and Excel), imports with a dry run, exports."""
