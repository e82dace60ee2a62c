// The Purse SDK as an Android library: the Kotlin bindings uniffi-bindgen generated from the
// Rust cdylib, and that cdylib for each ABI (built by cargo-ndk). build-aar.sh fills
// src/main/kotlin and src/main/jniLibs (git-ignored), then assembles build/outputs/aar/.
import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    id("com.android.library")
    id("org.jetbrains.kotlin.android")
}

android {
    namespace = "app.purse.sdk"
    compileSdk = 35
    defaultConfig {
        minSdk = 26
        // JNA finds the bindings' classes by reflection: keep them in minified apps.
        consumerProguardFiles("consumer-rules.pro")
    }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

kotlin {
    compilerOptions { jvmTarget.set(JvmTarget.JVM_17) }
}

dependencies {
    // The generated bindings load libpurse_ffi.so through JNA; the AAR form carries JNA's own
    // libjnidispatch.so for every ABI.
    api("net.java.dev.jna:jna:5.15.0@aar")
}
