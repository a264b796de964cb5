# Stub of oe-core's base class: the tasks every recipe has.
do_fetch() {
    :
}
do_install() {
    :
}
addtask fetch
addtask install after do_fetch
