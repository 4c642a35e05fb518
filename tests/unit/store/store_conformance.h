// The Store conformance suite, written once and run against every implementation: each
// implementation's test file instantiates StoreConformance with its own factory, e.g.
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformance,
//                            ::testing::Values(StoreImpl{"Sqlite", makeSqlite}), storeImplName);
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "api/store/store.h"

namespace minimcp::store::conformance {

// Opens the store whose data lives in (or is keyed by) `tempDir`, an empty directory private to
// one test. Called again with the same directory (after the previous store was destroyed) it must
// reopen the same data: that is how the suite checks restarts.
using StoreFactory = std::function<std::unique_ptr<Store>(const std::string& tempDir)>;

struct StoreImpl {
  std::string name;
  StoreFactory factory;
};

inline void PrintTo(const StoreImpl& impl, std::ostream* os) { *os << impl.name; }

inline std::string storeImplName(const ::testing::TestParamInfo<StoreImpl>& info) {
  return info.param.name;
}

class StoreConformance : public ::testing::TestWithParam<StoreImpl> {
 protected:
  void SetUp() override;
  void TearDown() override;

  Store& store() { return *store_; }
  // Destroys the store and opens it again on the same data, like an mcpd restart.
  void reopen();

  std::string dir_;
  std::unique_ptr<Store> store_;
};

}  // namespace minimcp::store::conformance
