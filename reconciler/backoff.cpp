#include "reconciler/backoff.h"

namespace minimcp::reconciler {

CrashLoopBackoff::Duration CrashLoopBackoff::delayFor(int crashes) const {
  if (crashes <= 1) return Duration::zero();
  Duration d = initial_;
  // Doubling stops at the cap, so the loop is short and never overflows.
  for (int i = 2; i < crashes && d < max_; ++i) d *= 2;
  return d < max_ ? d : max_;
}

}  // namespace minimcp::reconciler
