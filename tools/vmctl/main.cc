#include <cstdio>

int main() {
  std::puts("vmctl: placeholder");
  return 0;
}
