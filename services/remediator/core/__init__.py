"""The remediator's pure core: what an action request, a target, a rule and a decision are,
and how one is taken. No Redis, no web or task framework, no AWS client: what the decision
needs of the world comes through :class:`.decision.Lookups`, implemented around it."""
