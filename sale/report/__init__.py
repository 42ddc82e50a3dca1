"""A drop's report after (or during) the sale: from the SQL record, with the live counters of Redis."""
