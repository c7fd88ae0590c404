"""Fault rules every service serves (`/_admin/faults`): see `rules` for what a rule is, `inbound` and the
gateway for how a service answers badly, `outbound` for a service's own calls failing."""
