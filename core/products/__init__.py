"""Products, units of measure, currencies, exchange rates and tax rates."""
