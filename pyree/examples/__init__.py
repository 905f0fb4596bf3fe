"""Example modules shipped with pyree as package data (``pyree demo`` runs ``counter.vmasm``)."""
