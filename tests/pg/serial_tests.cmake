# Included by ctest after the discovered tests (TEST_INCLUDE_FILES): the tests that restart,
# freeze or saturate the shared server run alone.
foreach(name IN ITEMS PgFault.TerminatedPooledConnectionsAreReplaced PgFault.RestartMidLoadRecovers
                      PgFault.FrozenServerCallsEndAtTheirDeadline PgFault.IdleSessionTimeoutIsDetectedAtCheckout
                      PgFault.MaxConnectionsGivesAClearError)
  set_tests_properties(${name} PROPERTIES RUN_SERIAL TRUE)
endforeach()
