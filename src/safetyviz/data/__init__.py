"""Where the data lives and how it is read: the Parquet store and its versions, the Intake
catalog (the one way in), loading, regions, the sensor-readings store, the Dask engine. May
import: core.
"""
