; NSIS installer for Windows: a per-user install (no administrator rights) of the PyInstaller bundle.
;
;   makensis /DVERSION=0.1.0 /DSOURCE_DIR=dist\im-desktop /DOUTFILE=dist\im-desktop-0.1.0-windows.exe ^
;            packaging\windows\im-desktop.nsi
;
; Installs to %LOCALAPPDATA%\Programs\im-desktop, adds a Start-menu shortcut that carries the app's
; AppUserModelID (Windows drops toast notifications of apps without one), registers the uninstaller in
; "Apps & features", and refuses to install or uninstall while im-desktop runs.

Unicode true
SetCompressor /SOLID lzma
RequestExecutionLevel user

!ifndef VERSION
  !error "pass /DVERSION=x.y.z"
!endif
!ifndef SOURCE_DIR
  !error "pass /DSOURCE_DIR=<the PyInstaller bundle folder>"
!endif
!ifndef OUTFILE
  !define OUTFILE "im-desktop-${VERSION}-windows.exe"  ; not "setup": Windows would apply installer shims
!endif

!define APP_NAME "im-desktop"
!define AUMID "org.imdesktop.ImDesktop"
!define UNINSTALL_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\${APP_NAME}"
; COM identifiers for setting the AppUserModelID on a shortcut (IShellLink + IPropertyStore).
!define CLSID_ShellLink "{00021401-0000-0000-C000-000000000046}"
!define IID_IShellLinkW "{000214F9-0000-0000-C000-000000000046}"
!define IID_IPersistFile "{0000010b-0000-0000-C000-000000000046}"
!define IID_IPropertyStore "{886D8EEB-8CF2-4446-8D02-CDBA1DBDCF99}"
!define FMTID_AppUserModel "{9F4C2855-9F79-4B39-A8D0-E1D42DE1D5F3}"

!include "MUI2.nsh"
!include "LogicLib.nsh"
!include "FileFunc.nsh"
!include "StrFunc.nsh"
${StrLoc}
${UnStrLoc}

Name "${APP_NAME}"
OutFile "${OUTFILE}"
InstallDir "$LOCALAPPDATA\Programs\${APP_NAME}"
InstallDirRegKey HKCU "${UNINSTALL_KEY}" "InstallLocation"
BrandingText "${APP_NAME} ${VERSION}"

!define MUI_ICON "${SOURCE_DIR}\_internal\resources\icons\im-desktop.ico"
!define MUI_UNICON "${SOURCE_DIR}\_internal\resources\icons\im-desktop.ico"
!define MUI_FINISHPAGE_RUN "$INSTDIR\im-desktop.exe"  ; runs as the user: the installer never elevated
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "English"
!insertmacro MUI_LANGUAGE "SimpChinese"

VIProductVersion "${VERSION}.0"
VIAddVersionKey /LANG=${LANG_ENGLISH} "ProductName" "${APP_NAME}"
VIAddVersionKey /LANG=${LANG_ENGLISH} "ProductVersion" "${VERSION}"
VIAddVersionKey /LANG=${LANG_ENGLISH} "FileVersion" "${VERSION}"
VIAddVersionKey /LANG=${LANG_ENGLISH} "FileDescription" "${APP_NAME} installer"
VIAddVersionKey /LANG=${LANG_ENGLISH} "LegalCopyright" "The im-desktop developers"

; Whether im-desktop.exe runs (any session of this user): $0 = 1 if it does.
!macro APP_RUNNING UN
  nsExec::ExecToStack '"$SYSDIR\tasklist.exe" /FI "IMAGENAME eq im-desktop.exe" /NH'
  Pop $1  ; exit code
  Pop $2  ; output
  ${${UN}StrLoc} $3 $2 "im-desktop.exe" ">"
  ${If} $3 == ""
    StrCpy $0 0
  ${Else}
    StrCpy $0 1
  ${EndIf}
!macroend

Function .onInit
  !insertmacro APP_RUNNING ""
  ${If} $0 == 1
    MessageBox MB_OK|MB_ICONEXCLAMATION "im-desktop is running. Quit it (tray icon, Quit) and start the installer again."
    Abort
  ${EndIf}
FunctionEnd

Function un.onInit
  !insertmacro APP_RUNNING "Un"
  ${If} $0 == 1
    MessageBox MB_OK|MB_ICONEXCLAMATION "im-desktop is running. Quit it (tray icon, Quit) and start the uninstaller again."
    Abort
  ${EndIf}
FunctionEnd

; Set the AppUserModelID of the shortcut at $0 (IShellLink, IPersistFile::Load, IPropertyStore::SetValue,
; Commit, IPersistFile::Save). The same id is what the app passes to SetCurrentProcessExplicitAppUserModelID.
Function SetShortcutAppUserModelId
  System::Call 'ole32::CoCreateInstance(g "${CLSID_ShellLink}", p 0, i 1, g "${IID_IShellLinkW}", *p .r1) i .r9'
  ${If} $9 != 0
    Return
  ${EndIf}
  System::Call '$1->0(g "${IID_IPersistFile}", *p .r2) i .r9'
  ${If} $9 == 0
    System::Call '$2->5(w r0, i 2) i .r9'  ; Load(path, STGM_READWRITE)
    System::Call '$1->0(g "${IID_IPropertyStore}", *p .r3) i .r9'
    ${If} $9 == 0
      System::Call '*(&g16 "${FMTID_AppUserModel}", i 5) p .r4'  ; PKEY_AppUserModel_ID
      System::Call '*(&i2 31, &i2 0, &i2 0, &i2 0, w "${AUMID}", p 0) p .r5'  ; PROPVARIANT, VT_LPWSTR
      System::Call '$3->6(p r4, p r5) i .r9'  ; SetValue
      System::Call '$3->7() i .r9'  ; Commit
      System::Call '$3->2()'  ; Release
      System::Free $4
      System::Free $5
      System::Call '$2->6(p 0, i 1) i .r9'  ; Save(NULL, TRUE)
    ${EndIf}
    System::Call '$2->2()'
  ${EndIf}
  System::Call '$1->2()'
FunctionEnd

Section "im-desktop" Main
  SetOutPath "$INSTDIR"
  ; An update replaces the whole bundle: files of an older version must not linger.
  RMDir /r "$INSTDIR\_internal"
  File /r "${SOURCE_DIR}\*.*"
  WriteUninstaller "$INSTDIR\uninstall.exe"

  CreateShortCut "$SMPROGRAMS\${APP_NAME}.lnk" "$INSTDIR\im-desktop.exe" "" "$INSTDIR\im-desktop.exe" 0
  StrCpy $0 "$SMPROGRAMS\${APP_NAME}.lnk"
  Call SetShortcutAppUserModelId

  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayName" "${APP_NAME}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "Publisher" "The im-desktop developers"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayIcon" "$INSTDIR\im-desktop.exe"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegStr HKCU "${UNINSTALL_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "NoModify" 1
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "NoRepair" 1
  ${GetSize} "$INSTDIR" "/S=0K" $0 $1 $2
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "EstimatedSize" $0
SectionEnd

Section "Uninstall"
  Delete "$SMPROGRAMS\${APP_NAME}.lnk"
  RMDir /r "$INSTDIR\_internal"
  Delete "$INSTDIR\im-desktop.exe"
  Delete "$INSTDIR\uninstall.exe"
  RMDir "$INSTDIR"
  DeleteRegKey HKCU "${UNINSTALL_KEY}"
  ; Settings, messages and logs are the user's: removed only when asked (never in a silent uninstall).
  MessageBox MB_YESNO|MB_DEFBUTTON2 "Also remove your im-desktop settings, messages and logs?" /SD IDNO IDNO keep
    RMDir /r "$LOCALAPPDATA\im-desktop"
    RMDir /r "$APPDATA\im-desktop"
  keep:
SectionEnd
