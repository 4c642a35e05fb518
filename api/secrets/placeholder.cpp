// The secrets library's first real source replaces this file.
namespace minimcp::secrets {}
