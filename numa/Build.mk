# numa/ — topology and placement through libnuma.
obj-y += numa/numa.o
libs-$(CONFIG_HK_NUMA) += -lnuma
