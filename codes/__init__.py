"""F-codes: employees' monthly single-use passes to buy a unit before the crowd, or to give away."""
