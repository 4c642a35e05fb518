// Master key rotation (`mcpd rotate-master-key`): re-seals every APIKey value under
// the key ring's primary key, so the previous master key can be retired.
//
// Intended flow of the mcpd subcommand (the store may be shared and mcpd may keep running):
//   1. Generate the new key: crypto::MasterKey::createFile(DATA_DIR/master.key.new) (0600).
//   2. KeyRing ring(newKey, {MasterKey::load(DATA_DIR/master.key)}); rotateMasterKey(store, ring,
//      FileAuditLog(DATA_DIR/audit.log)); stop with a non-zero exit when report.failed is not
//      empty (nothing is lost: every value is still readable under the old key).
//   3. rename master.key → master.key.previous, master.key.new → master.key (fsync the dir).
//      mcpd loads master.key as primary and, when present, master.key.previous as an older key
//      (KeyRing::addOlder), so values written by a still-running mcpd under the old key stay
//      readable.
//   4. Restart mcpd (instances keep running and are adopted) and run rotate-master-key with
//      --finish (only step 2 with ring(master.key, {master.key.previous})): it re-seals what was
//      written meanwhile; when it reports resealed == 0 and no failures, master.key.previous
//      can be deleted.
// Running it again is harmless: values already under the primary key are skipped.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "api/crypto/master_key.h"
#include "api/secrets/audit_log.h"
#include "api/store/store.h"
#include "api/util/clock.h"

namespace minimcp::secrets {

struct RotationReport {
  int64_t resealed = 0;   // APIKeys written with a value sealed under the primary key
  int64_t unchanged = 0;  // already under the primary key (or without a value)
  // "namespace/name: why" for values that could not be opened (unknown master key, tampered
  // row); they stay as they were.
  std::vector<std::string> failed;
};

// Re-seals every APIKey (all namespaces) whose sealed value or digest is not under
// keys.primary(): opens with the ring, seals with a fresh nonce under the primary key and the
// same AAD (namespace/name/version: the version does not change, so no instance restarts), and
// writes with compare-and-swap, retrying on conflict. Each decryption is audited (action
// "reseal"). Throws StoreError when the store fails, AuditLogError when the log does.
RotationReport rotateMasterKey(store::Store& store, const crypto::KeyRing& keys, AuditLog& audit,
                               const std::string& actor = "mcpd rotate-master-key",
                               const Clock& clock = SystemClock::instance());

}  // namespace minimcp::secrets
