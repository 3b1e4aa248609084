/* The installed `{{ cookiecutter.app_name }}` command.
 *
 * It embeds the system Python {{ cookiecutter.python_version }} (the package depends on
 * libpython{{ cookiecutter.python_version }}), puts only the app's own code and packages on the
 * module path (never the user's site-packages or an active virtualenv), and runs the
 * `{{ cookiecutter.module_name }}` module with the command line it was given. So
 * `{{ cookiecutter.app_name }} train ...` trains with the app's own TensorFlow, with no `python`
 * needed on the machine.
 */
#include <Python.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#define APP_NAME "{{ cookiecutter.app_name }}"
#define APP_MODULE "{{ cookiecutter.module_name }}"
#define STDLIB "/usr/lib/python{{ cookiecutter.python_version }}"

static void check(PyStatus status, PyConfig *config) {
    if (PyStatus_Exception(status)) {
        if (config != NULL) {
            PyConfig_Clear(config);
        }
        Py_ExitStatusException(status);
    }
}

static void add_path(PyConfig *config, const char *path) {
    wchar_t *wide = Py_DecodeLocale(path, NULL);
    if (wide == NULL) {
        fprintf(stderr, APP_NAME ": cannot decode path %s\n", path);
        exit(70);
    }
    check(PyWideStringList_Append(&config->module_search_paths, wide), config);
    PyMem_RawFree(wide);
}

int main(int argc, char *argv[]) {
    char exe[PATH_MAX], usr[PATH_MAX], app[PATH_MAX], packages[PATH_MAX];
    PyPreConfig preconfig;
    PyConfig config;

    /* <prefix>/bin/<app> -> <prefix>/lib/<app>/{app,app_packages} */
    if (realpath("/proc/self/exe", exe) == NULL) {
        perror(APP_NAME ": cannot locate its own executable");
        return 70;
    }
    strcpy(usr, exe);
    char *prefix = dirname(dirname(usr));
    snprintf(app, sizeof app, "%s/lib/" APP_NAME "/app", prefix);
    snprintf(packages, sizeof packages, "%s/lib/" APP_NAME "/app_packages", prefix);

    PyPreConfig_InitIsolatedConfig(&preconfig);
    preconfig.utf8_mode = 1;
    preconfig.configure_locale = 1;
    check(Py_PreInitialize(&preconfig), NULL);

    PyConfig_InitIsolatedConfig(&config);
    config.buffered_stdio = 0;
    config.write_bytecode = 0;          /* the installed files belong to dpkg */
    config.install_signal_handlers = 1; /* Ctrl+C stops training cleanly */
    config.site_import = 0;             /* keep user and system site-packages out */
    check(PyConfig_SetBytesString(&config, &config.executable, exe), &config);
    check(PyConfig_SetBytesString(&config, &config.run_module, APP_MODULE), &config);
    check(PyConfig_SetBytesArgv(&config, argc, argv), &config);
    config.module_search_paths_set = 1;
    add_path(&config, STDLIB);
    add_path(&config, STDLIB "/lib-dynload");
    add_path(&config, app);
    check(Py_InitializeFromConfig(&config), &config);
    PyConfig_Clear(&config);

    /* app_packages as a site dir, so the .pth files some wheels ship are honoured. */
    PyObject *site = PyImport_ImportModule("site");
    PyObject *added = site ? PyObject_CallMethod(site, "addsitedir", "s", packages) : NULL;
    if (added == NULL) {
        PyErr_Print();
        fprintf(stderr, APP_NAME ": cannot add %s to the module path\n", packages);
        return 70;
    }
    Py_DECREF(added);
    Py_DECREF(site);
    return Py_RunMain();
}
