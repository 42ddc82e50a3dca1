"""HTTP routes of each domain: thin, dependencies in, one service call, result out."""
