"""The operator's control room: live controls of a drop (pause, stock, edits, message, clone, cancel),
the order list and export, and the weekly schedule run from the console. Every change writes its
audit entry in the same SQL transaction (audit/)."""
