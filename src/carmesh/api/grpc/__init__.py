"""The broker on gRPC: Eclipse KUKSA ``kuksa.val.v2`` and ``kuksa.val.v1``, and Velocitas'
``sdv.databroker.v1``, all on one port."""
