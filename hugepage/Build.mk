# hugepage/ — backing policy on top of os/.
obj-y += hugepage/hugepage.o
