# os/ — every memory system call of hakmem.
obj-y += os/os.o os/purge.o
obj-$(CONFIG_HK_IO_URING) += os/purge_uring.o
libs-$(CONFIG_HK_IO_URING) += -luring
