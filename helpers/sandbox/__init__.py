"""The sandbox: a local AWS region where ECS services and an ALB really run (see region.py).

Import-light on purpose (container processes import this package).
"""
