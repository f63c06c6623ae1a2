# Included by ctest after the discovered tests: the test that stops the shared PostgreSQL
# server runs alone.
set_tests_properties(PgDatabaseDown.StopUnderLoadFailsFastBoundsConnectsAndRecovers PROPERTIES RUN_SERIAL TRUE)
