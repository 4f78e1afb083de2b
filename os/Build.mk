# os/ — every memory system call of hakmem.
obj-y += os/os.o os/purge.o
obj-$(CONFIG_HK_IO_URING) += os/purge_uring.o
libs-$(CONFIG_HK_IO_URING) += -luring
# libhakmem.so takes liburing's archive, its symbols hidden: one shared
# object less to load is ~36 KB less resident in every process (pairs 16).
so-static-$(CONFIG_HK_IO_URING) += uring
