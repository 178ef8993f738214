"""The economics of catallax: auctions, the deep market (Algorithm 1), the CAPITALISM
training loop, reference environments, and (in later issues) the wide market, the
equilibrium solvers and the ledger. No network code lives here, and nothing here
imports another part of the project.
"""

__all__: list[str] = []
