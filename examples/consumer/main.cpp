// Checks that an installed graft links and computes: (1 2; 3 4) x (1 1; 1 1) summed is 20.
#include <graft/graft.h>

#include <cstdio>

int main() {
  using namespace graft;
  auto f = Exec(cpu_backend(), [](Node a, Node b) { return ReduceSum(MatMul(a, b)); });
  float s = f(Tensor{{1.f, 2.f}, {3.f, 4.f}}, Tensor{{1.f, 1.f}, {1.f, 1.f}}).item<float>();
  std::printf("consumer: sum = %g\n", s);
  return s == 20.f ? 0 : 1;
}
