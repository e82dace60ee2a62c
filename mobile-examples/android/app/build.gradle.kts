// The consumer wallet: balance, scan to pay, show pay code, history. Its logic is plain Kotlin in
// src/main/java/app/purse/wallet/logic (compiled and tested on the JVM by the repository's tests);
// the activities in ui/ are the Android half.
import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    id("com.android.application")
    id("org.jetbrains.kotlin.android")
}

android {
    namespace = "app.purse.wallet"
    compileSdk = 35
    defaultConfig {
        applicationId = "app.purse.wallet"
        minSdk = 26
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
        val baseUrl = providers.gradleProperty("purse.baseUrl").getOrElse("http://10.0.2.2:8080")
        buildConfigField("String", "PURSE_BASE_URL", "\"$baseUrl\"")
    }
    buildFeatures { buildConfig = true }
    buildTypes {
        release {
            isMinifyEnabled = true
            proguardFiles(getDefaultProguardFile("proguard-android-optimize.txt"))
        }
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
    // The AAR build-aar.sh made (bindings + libpurse_ffi.so per ABI, with its keep rules). A file
    // dependency carries no transitive dependencies, so JNA is named again here.
    implementation(files("libs/purse-sdk.aar"))
    implementation("net.java.dev.jna:jna:5.15.0@aar")
    implementation("androidx.activity:activity-ktx:1.9.3")
    // Camera QR scanning (ZXing), with its own scanning activity.
    implementation("com.journeyapps:zxing-android-embedded:4.3.0")
}
