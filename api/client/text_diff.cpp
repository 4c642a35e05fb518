#include "api/client/text_diff.h"

#include <algorithm>
#include <vector>

namespace minimcp::client {

namespace {

std::vector<std::string> splitLines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

struct Op {
  char kind;        // ' ', '-', '+'
  size_t from, to;  // line indexes (valid per kind)
};

// Longest-common-subsequence edit script; objects are small, so O(n·m) is fine.
std::vector<Op> editScript(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<unsigned>> lcs(n + 1, std::vector<unsigned>(m + 1, 0));
  for (size_t i = n; i-- > 0;) {
    for (size_t j = m; j-- > 0;) {
      lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  std::vector<Op> ops;
  size_t i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] == b[j]) {
      ops.push_back({' ', i++, j++});
    } else if (j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j])) {
      ops.push_back({'+', i, j++});
    } else {
      ops.push_back({'-', i++, j});
    }
  }
  // diff -u prints a change's removals before its additions.
  for (size_t k = 0; k < ops.size();) {
    size_t end = k;
    while (end < ops.size() && ops[end].kind != ' ') ++end;
    std::stable_partition(ops.begin() + static_cast<long>(k), ops.begin() + static_cast<long>(end),
                          [](const Op& o) { return o.kind == '-'; });
    k = end == k ? k + 1 : end;
  }
  return ops;
}

std::string range(size_t start, size_t count) {
  // GNU diff: a one-line range is just its line number; an empty one names the line before it.
  if (count == 1) return std::to_string(start + 1);
  return std::to_string(count == 0 ? start : start + 1) + "," + std::to_string(count);
}

}  // namespace

std::string unifiedDiff(const std::string& from, const std::string& to, const std::string& fromName,
                        const std::string& toName, int context) {
  if (from == to) return "";
  auto a = splitLines(from);
  auto b = splitLines(to);
  auto ops = editScript(a, b);
  std::string out = "--- " + fromName + "\n+++ " + toName + "\n";
  const size_t ctx = static_cast<size_t>(std::max(context, 0));
  size_t k = 0;
  while (k < ops.size()) {
    while (k < ops.size() && ops[k].kind == ' ') ++k;
    if (k == ops.size()) break;
    size_t begin = k >= ctx ? k - ctx : 0;
    // Extend the hunk while the next change is within 2·context unchanged lines.
    size_t end = k;
    while (true) {
      while (end < ops.size() && ops[end].kind != ' ') ++end;
      size_t same = end;
      while (same < ops.size() && ops[same].kind == ' ') ++same;
      if (same < ops.size() && same - end <= 2 * ctx) {
        end = same;
        continue;
      }
      end = std::min(end + ctx, ops.size());
      break;
    }
    size_t fromStart = ops[begin].from, toStart = ops[begin].to, fromCount = 0, toCount = 0;
    std::string body;
    for (size_t i = begin; i < end; ++i) {
      const Op& op = ops[i];
      if (op.kind == ' ') {
        body += " " + a[op.from] + "\n";
        ++fromCount;
        ++toCount;
      } else if (op.kind == '-') {
        body += "-" + a[op.from] + "\n";
        ++fromCount;
      } else {
        body += "+" + b[op.to] + "\n";
        ++toCount;
      }
    }
    out += "@@ -" + range(fromStart, fromCount) + " +" + range(toStart, toCount) + " @@\n" + body;
    k = end;
  }
  return out;
}

}  // namespace minimcp::client
