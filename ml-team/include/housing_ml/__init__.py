"""housing_ml: the ML team's consumer of the California-housing contract.

Modules by domain: ``settings`` (facts), ``features``/``split``/``training``/``evaluation``/``plots``
(the model), ``tracking`` (MLflow runs), ``registry`` (versions and champion/challenger),
``predictions`` (batch scoring), ``subscription`` (which snapshot to consume) and ``consumer``
(the steps the ``housing_consumer`` DAG runs).
"""
