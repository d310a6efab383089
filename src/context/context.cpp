// Context: named, scoped variables (being written).
namespace graft {}
