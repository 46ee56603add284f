from . import test_module_install
