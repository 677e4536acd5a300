"""kopf handlers of the operator (thin: each calls one reconciler) and entry point (main)."""
