// The Purse Android example: `:sdk` packages the generated Kotlin bindings and the cargo-ndk
// libraries as an AAR (build-aar.sh), `:app` is the consumer wallet built on that AAR.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "purse-android"
include(":sdk", ":app")
