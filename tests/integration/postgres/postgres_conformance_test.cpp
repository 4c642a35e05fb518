// The store conformance suite, compiled once more here and run against PostgreSQL: the very same
// tests as for SQLite (tests/unit/store), each on a fresh database of the shared test server.
#include "tests/integration/postgres/pg_test_util.h"
#include "tests/unit/store/store_conformance_test.cpp"  // NOLINT(bugprone-suspicious-include)

namespace minimcp::store {
namespace {

using conformance::StoreConformance;
using conformance::StoreImpl;

INSTANTIATE_TEST_SUITE_P(Postgres, StoreConformance,
                         ::testing::Values(StoreImpl{"Postgres", pgtest::conformanceFactory}),
                         conformance::storeImplName);

}  // namespace
}  // namespace minimcp::store
