# numa/ — topology and placement through the kernel's NUMA system calls
# (no libnuma: numa/numa.c says why).
obj-y += numa/numa.o
