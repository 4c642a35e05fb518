// SealedKeyResolver: the reconciler's KeyResolver over the secrets library — APIKeys sealed with
// AES-256-GCM under the master key, every decryption written to the audit log.
#pragma once

#include <string>

#include "api/secrets/key_resolver.h"
#include "reconciler/key_resolver.h"

namespace minimcp::reconciler {

class SealedKeyResolver : public KeyResolver {
 public:
  // `keys` must outlive this; `actor` names this node in the audit log ("mcpd/<node>").
  SealedKeyResolver(const secrets::KeyResolver& keys, std::string actor)
      : keys_(keys), actor_(std::move(actor)) {}

  KeyResolution resolve(const std::string& ns, const std::string& name,
                        const std::string& typeName) override;
  std::string reveal(const std::string& ns, const std::string& name,
                     const std::string& instance) override;

 private:
  const secrets::KeyResolver& keys_;
  std::string actor_;
};

}  // namespace minimcp::reconciler
