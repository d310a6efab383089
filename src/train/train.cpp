// Training: losses, optimizers, the loop (being written).
namespace graft {}
