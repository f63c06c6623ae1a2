# Included by ctest after the discovered tests (TEST_INCLUDE_FILES): the failover test kills a
# Patroni node's PostgreSQL and waits for the cluster to heal; it runs alone.
set_tests_properties(PatroniFailover.WritesResumeAndNoAcknowledgedWriteIsLost PatroniFailover.RoutedWritesFollowThePromotion
                     PatroniRoles.RestApiSaysWhichNodeIsWhich
                     PatroniRoles.AReplicaBehindTheByteBoundIsLaggingForPatroniAndServesNoRead PROPERTIES RUN_SERIAL TRUE)
# The routing tests stop the replica and pause its replay: nothing else may use it meanwhile.
set_tests_properties(PgRouting.WritesGoToThePrimaryAndReadsToTheReplica
                     PgRouting.ReadsFallBackToThePrimaryWhileTheReplicaIsStopped
                     PgRouting.AReplicaLaggingBeyondTheBoundServesNoRead
                     PgRouting.AReadWithTheReplicaLaggingAndThePrimaryStoppedSaysWhy
                     PgRouting.ReadYourWritesSeesTheWrite
                     PgRouting.AWriteRefusedByAReplicaGoesToThePrimary PROPERTIES RUN_SERIAL TRUE)
set_tests_properties(PgTenantCluster.TenantsReadOnTheReplicaWriteOnThePrimaryWithinTheirQuotas PROPERTIES RUN_SERIAL TRUE)
