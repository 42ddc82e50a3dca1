"""Draw drops (issue 24): entries in a window, one Redis step each; a draw at starts_at that anyone
can check (the seed's hash published when entries open, the seed at the draw); winners and ordered
backups who buy through the purchase script; lapsed wins passed on to backups."""
